"""Emulated authorities the supporter event service talks to: the user service and ERPNext.

They speak the real services' wire formats from their own code and never import
``supporterflow.domain``, ``functions`` or ``adapters``: an emulator sharing our mapping would
agree with our bugs. Used by the local profile, the tests and the demo; see docs/emulators.md.
"""

from supporterflow.emulators.control import EmulatorControl, Fault
from supporterflow.emulators.erpnext import DEFAULT_API_KEY as ERPNEXT_API_KEY
from supporterflow.emulators.erpnext import DEFAULT_API_SECRET as ERPNEXT_API_SECRET
from supporterflow.emulators.erpnext import create_erpnext_app
from supporterflow.emulators.erpnext_documents import ErpNextState
from supporterflow.emulators.serving import RunningEmulator, start_in_thread
from supporterflow.emulators.user_service import DEFAULT_API_KEY as USER_SERVICE_API_KEY
from supporterflow.emulators.user_service import UserServiceState, create_user_service_app

__all__ = [
    "ERPNEXT_API_KEY",
    "ERPNEXT_API_SECRET",
    "USER_SERVICE_API_KEY",
    "EmulatorControl",
    "ErpNextState",
    "Fault",
    "RunningEmulator",
    "UserServiceState",
    "create_erpnext_app",
    "create_user_service_app",
    "start_in_thread",
]
