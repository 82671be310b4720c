// Headers only; see include/CHeraldSSL.h.
