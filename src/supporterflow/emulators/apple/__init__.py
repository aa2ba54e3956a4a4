"""An emulated App Store: signed V2 notifications, the App Store Server API's Get All
Subscription Statuses and the legacy ``verifyReceipt``, signed by a run-time test CA.

Written from Apple's documentation and spec/mobile-purchases.md §3, never from
``supporterflow.domain``, ``functions`` or ``adapters``: an emulator sharing our mapping would
agree with our bugs. See docs/emulators-apple.md.
"""
