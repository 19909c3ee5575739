"""The premise charge point: EVSE + communications interface (ESCI) + EUMD."""
