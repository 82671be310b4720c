// Headers only; see include/CHeraldZlib.h.
