"""Option baskets executed as one unit: legging rules (:mod:`.legging`), the basket request
(:mod:`.request`), and the engine's basket runner (:mod:`.runner`)."""
