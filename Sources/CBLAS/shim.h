#ifndef FTDIST_CBLAS_SHIM_H
#define FTDIST_CBLAS_SHIM_H
#include <cblas.h>
/* Thread control is an OpenBLAS extension declared in cblas.h of the pthread build. */
#endif
