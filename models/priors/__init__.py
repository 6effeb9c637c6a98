"""Motion priors trained here for the windowed refinement: a HuMoR-style conditional VAE
of state transitions (:mod:`.humor`) and a small motion diffusion model (:mod:`.diffusion`),
both over the body-model-free motion features of :mod:`.representation`."""
