"""The texts the service sends on its own (PINs, welcomes, notices, replies), below every app
that sends them: ``groups`` and ``members`` queue them here; ``messaging`` hands them to the
gateway (its row pipeline of kind "texts")."""
