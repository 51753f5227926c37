"""Push services: one backend per service (APNs, FCM), chosen in settings (see ``base``)."""
