"""Publishing: the wire format (:mod:`.wire`), the ZeroMQ publisher and its messages
(:mod:`.publisher`) and CURVE encryption of the stream (:mod:`.security`)."""
