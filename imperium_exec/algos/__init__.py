"""The execution algorithms, one module each, behind one interface.

- ``base``: :class:`~.base.Algorithm`, what every algorithm implements (slices and weights
  before the parent starts; each slice's size, and what to send next on a fill or a timer,
  while it runs);
- ``immediate``, ``twap``, ``vwap``, ``pov``, ``implementation_shortfall``: the built-ins;
- ``registry``: :func:`~.registry.algorithm_for` (the algorithm a request names) and
  :func:`~.registry.register_algorithm` (add one from outside the package);
- ``names``: the algorithms' names (:class:`~.names.ExecutionAlgo`), importable by the request
  without loading the algorithms;
- ``plan``: what a plan is (:class:`~.plan.ExecutionPlan`); ``planner``: the planner that makes
  one (:class:`~.planner.ExecutionAlgoPlanner`).

This file imports nothing: the request model imports ``names`` while it loads, and the
algorithms read requests.
"""
