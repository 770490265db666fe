"""The GPU window: what runs on a lent GPU machine (window: the plan, its rehearsal on the CPU,
the runs there, unpacking what returns) and what makes the checkout small enough to travel
(travel). Run from the checkout's root: `python -m gpu.window rehearse`, `python -m gpu.travel report`."""
