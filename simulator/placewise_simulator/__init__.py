"""Local simulator of the Placewise Reporting API.

The real API is not reachable from development machines and CI, so the warehouse is built and
tested against this independent implementation of the contract in
``docs/api-contract.md``. It deliberately shares no code with the client
package, so that a misunderstanding of the contract cannot hide in code used by both sides.
Where the public docs allow more than one reading, ``VARIANTS`` names the switches that choose one.
"""

from placewise_simulator.app import create_app
from placewise_simulator.config import SimulatorConfig, TokenGrant
from placewise_simulator.variants import VARIANTS

__all__ = ["VARIANTS", "SimulatorConfig", "TokenGrant", "create_app"]
