"""Training the causal motion model (``livehmr train motion``): the retargeted motion cache
and body bank (:mod:`.data`), sequences synthesised on the fly with detector errors
(:mod:`.synth`) and the training loop (:mod:`.train`). The network and its live use are
:mod:`livehmr.models.motion` and :mod:`livehmr.stream.estimators.learned`."""
