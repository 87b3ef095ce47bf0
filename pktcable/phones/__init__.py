"""SIP phones: profiles built from templates and device variables."""
