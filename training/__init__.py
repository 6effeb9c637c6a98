"""Training code, apart from the networks it trains (which load their own weights in
``models/``): the motion model (:mod:`.motion`), the refinement's priors (:mod:`.priors`),
the detector error models they learn from (:mod:`.detector_errors`,
:mod:`.landmark_errors`) and the shared training-loop tail (:mod:`.steps`)."""
