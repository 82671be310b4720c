// Headers only; see include/CHeraldLinux.h.
