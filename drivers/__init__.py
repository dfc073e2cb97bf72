"""drivers: card-printer drivers (contract, Evolis protocol, simulator); independent of printd."""
