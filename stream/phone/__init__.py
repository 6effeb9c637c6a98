"""The phone as the camera: a page served over HTTPS streams its camera and gyroscope on
one clock over a WebSocket, and draws the overlay livehmr sends back (``livehmr phone``;
docs/phone.md)."""
