"""One module per paper item: Table 1 / Algorithm 1, tables, figures, Algorithm S1, Theorem 3, weight bound."""
