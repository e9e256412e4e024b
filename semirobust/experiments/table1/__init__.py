"""Algorithm 1 and Table 1: ``configs`` (record identities, the configurations of a page), ``arms`` (the control
arms) and ``arms_report`` (their readings), ``evaluation`` (the images and attacks), ``algorithm1`` (the run),
``cell`` and ``scoring`` (a seed's shared state, its networks scored), ``finished`` (finished seeds read back for
later studies), ``population`` (the cells each page lists, read by their identity), ``report`` (Table 1's
frames and sentences)."""
