"""The learned causal motion model: 2D keypoints + camera rotation -> world-grounded SMPL-24.

- :mod:`.features`: what the network sees, computed the same way in training and live;
- :mod:`.data`: the retargeted training motion (cached) and the body-shape bank;
- :mod:`.synth`: training sequences synthesised on the fly (cameras, detector errors);
- :mod:`.network`: the recurrent networks, step and sequence APIs;
- :mod:`.train`: ``livehmr train motion``;
- :mod:`.estimator`: the live estimator (``--estimator learned``).
"""
