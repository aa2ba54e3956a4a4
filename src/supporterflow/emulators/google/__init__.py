"""An emulated Google Play: the Play Developer API's subscription endpoints (v1
``purchases.subscriptions.get``, v2 ``purchases.subscriptionsv2.get``, ``monetization.subscriptions.get``),
the OAuth token endpoint a service account signs in to, Google's OAuth certificates, and the
Pub/Sub push sender of Real-time developer notifications, signed with test keys made at run time.

Written from Google's public documentation and spec/mobile-purchases.md §4, never from
``supporterflow.domain``, ``functions`` or ``adapters``: an emulator sharing our mapping would
agree with our bugs. See docs/emulators-google.md.
"""
