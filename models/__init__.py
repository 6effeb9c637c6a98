"""Body models (the SMPL-24 skeleton, Anny, SMPL) and, later, learned networks."""
