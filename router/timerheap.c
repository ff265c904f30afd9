#include "timerheap.h"

#include <stdlib.h>

void th_init(struct timerheap *th)
{
	th->h = NULL;
	th->n = th->cap = 0;
}

void th_free(struct timerheap *th)
{
	for (size_t i = 0; i < th->n; i++)
		th->h[i]->idx = 0;
	free(th->h);
	th_init(th);
}

static void place(struct timerheap *th, size_t i, struct th_node *node)
{
	th->h[i] = node;
	node->idx = i + 1;
}

static void sift_up(struct timerheap *th, size_t i)
{
	struct th_node *node = th->h[i];

	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (th->h[p]->when <= node->when)
			break;
		place(th, i, th->h[p]);
		i = p;
	}
	place(th, i, node);
}

static void sift_down(struct timerheap *th, size_t i)
{
	struct th_node *node = th->h[i];

	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= th->n)
			break;
		if (c + 1 < th->n && th->h[c + 1]->when < th->h[c]->when)
			c++;
		if (node->when <= th->h[c]->when)
			break;
		place(th, i, th->h[c]);
		i = c;
	}
	place(th, i, node);
}

int th_push(struct timerheap *th, struct th_node *node, int64_t when)
{
	if (node->idx) {
		size_t i = node->idx - 1;
		node->when = when;
		sift_up(th, i);
		sift_down(th, node->idx - 1);
		return 0;
	}
	if (th->n == th->cap) {
		size_t cap = th->cap ? th->cap * 2 : 64;
		struct th_node **h = realloc(th->h, cap * sizeof *h);
		if (!h)
			return -1;
		th->h = h;
		th->cap = cap;
	}
	node->when = when;
	place(th, th->n++, node);
	sift_up(th, th->n - 1);
	return 0;
}

void th_remove(struct timerheap *th, struct th_node *node)
{
	size_t i;
	struct th_node *last;

	if (!node->idx)
		return;
	i = node->idx - 1;
	node->idx = 0;
	last = th->h[--th->n];
	if (i == th->n)
		return;
	place(th, i, last);
	sift_up(th, i);
	sift_down(th, last->idx - 1);
}

struct th_node *th_top(const struct timerheap *th)
{
	return th->n ? th->h[0] : NULL;
}

struct th_node *th_pop(struct timerheap *th)
{
	struct th_node *top = th_top(th);
	if (top)
		th_remove(th, top);
	return top;
}
