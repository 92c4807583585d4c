/*
 * dense.h
 *		Dense symmetric positive-definite algebra (dense.c), for models whose
 *		closed form needs the inverse of an item-item Gram matrix (EASE).
 */
#ifndef PERSONALIZE_DENSE_H
#define PERSONALIZE_DENSE_H

#include "postgres.h"

/*
 * Replace the lower triangle of the n x n row-major matrix A (symmetric
 * positive definite; the upper triangle is ignored) by its Cholesky factor
 * L, A = L L^T.  False if a pivot is not positive (A is not positive
 * definite); A is then partly overwritten.
 */
extern bool pz_dense_cholesky(double *A, int n);

/*
 * The inverse of L L^T from the factor pz_dense_cholesky() left in A, as
 * floats into P (n x n row-major, both triangles).  A is left as it was.
 */
extern void pz_dense_inverse_from_cholesky(const double *A, int n, float *P);

#endif							/* PERSONALIZE_DENSE_H */
