"""publish stage: the warehouse's products as a `datasets`-loadable folder with its dataset card."""
