"""One router per resource; api.app includes every module here that defines `router`."""
