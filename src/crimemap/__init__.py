"""crimemap: pool, detect, track and forecast concentrations of crime.

The library is organised as one subpackage per pipeline stage
(``ingest``, ``store``, ``spatial``, ``detect``, ``forecast``, ``evaluate``,
``safeguards``, ``allocate``) with thin outer layers (``api``, ``cli``).
The library never imports the outer layers and never reads the environment:
configuration is passed in explicitly.

The product predicts places and times, never people.
"""

from crimemap.errors import CrimemapError
from crimemap.table import IncidentTable

__all__ = ["CrimemapError", "IncidentTable", "__version__"]
__version__ = "0.1.0"
