/*
 * timerheap — a binary min-heap of deadlines. Push, remove and re-key are
 * O(log n); the earliest deadline is O(1), so a scheduler keeps one timer
 * armed for the top and idle entries cost nothing. Nodes are embedded in
 * their owners; the heap only holds pointers and never frees them.
 */
#ifndef TRINE_TIMERHEAP_H
#define TRINE_TIMERHEAP_H

#include <stddef.h>
#include <stdint.h>

struct th_node {
	int64_t when;		/* deadline; the caller's unit */
	size_t idx;		/* position + 1 while in a heap, 0 when not */
};

struct timerheap {
	struct th_node **h;
	size_t n, cap;
};

void th_init(struct timerheap *th);
void th_free(struct timerheap *th);	/* the array only: nodes belong to their owners */
/* Insert node with deadline when (re-keys it if already in). 0, or -1 out of memory. */
int th_push(struct timerheap *th, struct th_node *node, int64_t when);
void th_remove(struct timerheap *th, struct th_node *node);
/* The earliest node, or NULL when empty. */
struct th_node *th_top(const struct timerheap *th);
/* Remove and return the earliest node, or NULL. */
struct th_node *th_pop(struct timerheap *th);

#endif
