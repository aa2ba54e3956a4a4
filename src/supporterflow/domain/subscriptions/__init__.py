"""Mobile in-app subscriptions: the pure rules of guardian/mobile-purchases.

Spec: ``/work/shared/spec/mobile-purchases.md``. Modules: ``dates`` (JS date semantics, §2.1),
``platforms`` / ``products`` (§2.2-§2.4), ``apple_v1`` (V1 notifications, §3.1-§3.3),
``apple_validation`` (``toSensiblePayloadFormat``, §3.5), ``apple_receipts`` (verifyReceipt
verdicts, extra and Subscription row, §3.4, §3.7, §3.8), ``status`` (normalised status) and
``errors`` (§2.7). Rows are plain dicts keyed by the DynamoDB attribute names.
"""
