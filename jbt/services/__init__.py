"""Jesse's ``jesse.services`` names that strategies import (``selectors``)."""
