"""The hardware probe: the only part of dlrig that reads the machine (`dlrig probe`)."""
