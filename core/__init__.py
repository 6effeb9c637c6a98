"""The bottom layer: what every other part of livehmr may import and which imports none of them."""
