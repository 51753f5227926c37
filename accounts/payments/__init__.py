"""Payment backends: one base (``base.BasePaymentBackend``), one module per processor."""
