#ifndef FTDIST_CMPI_SHIM_H
#define FTDIST_CMPI_SHIM_H
#include <mpi.h>

/* OpenMPI defines its predefined handles as macros over addresses of global structs;
   Swift cannot import such macros, so each one is exposed as a static inline function. */
static inline MPI_Comm ftdist_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype ftdist_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype ftdist_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype ftdist_byte(void) { return MPI_BYTE; }
static inline MPI_Datatype ftdist_int64(void) { return MPI_INT64_T; }
static inline MPI_Datatype ftdist_int32(void) { return MPI_INT32_T; }
static inline MPI_Op ftdist_op_sum(void) { return MPI_SUM; }
static inline MPI_Op ftdist_op_max(void) { return MPI_MAX; }
static inline MPI_Info ftdist_info_null(void) { return MPI_INFO_NULL; }
static inline MPI_Errhandler ftdist_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline int ftdist_success(void) { return MPI_SUCCESS; }
static inline int ftdist_thread_serialized(void) { return MPI_THREAD_SERIALIZED; }
static inline MPI_Request ftdist_request_null(void) { return MPI_REQUEST_NULL; }
static inline MPI_Status *ftdist_statuses_ignore(void) { return MPI_STATUSES_IGNORE; }

/* Progress counters that the ranks of a host read in each other's shared memory: a store
   that publishes everything written before it, and a load that sees everything published. */
static inline void ftdist_store_release(volatile long long *p, long long v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline long long ftdist_load_acquire(volatile long long *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline int ftdist_comm_type_shared(void) { return MPI_COMM_TYPE_SHARED; }
static inline void *ftdist_in_place(void) { return MPI_IN_PLACE; }
static inline int ftdist_mode_nocheck(void) { return MPI_MODE_NOCHECK; }
#endif
