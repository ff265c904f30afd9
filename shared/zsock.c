#include "zsock.h"

#include <stdlib.h>
#include <zmq.h>

struct zsock {
	void *sock;
	struct event *ev;
	zsock_read_cb cb;
	void *arg;
};

static void zsock_on_fd(evutil_socket_t fd, short what, void *arg)
{
	struct zsock *z = arg;
	int events;
	size_t len = sizeof events;

	(void)fd;
	(void)what;
	for (;;) {
		if (zmq_getsockopt(z->sock, ZMQ_EVENTS, &events, &len) < 0)
			return;
		if (!(events & ZMQ_POLLIN))
			return;
		z->cb(z->sock, z->arg);
	}
}

struct zsock *zsock_watch(struct event_base *base, void *sock, zsock_read_cb cb, void *arg)
{
	struct zsock *z = calloc(1, sizeof *z);
	int fd;
	size_t len = sizeof fd;

	if (!z)
		return NULL;
	if (zmq_getsockopt(sock, ZMQ_FD, &fd, &len) < 0) {
		free(z);
		return NULL;
	}
	z->sock = sock;
	z->cb = cb;
	z->arg = arg;
	z->ev = event_new(base, fd, EV_READ | EV_PERSIST, zsock_on_fd, z);
	event_add(z->ev, NULL);
	zsock_kick(z);
	return z;
}

void zsock_kick(struct zsock *z)
{
	if (z)	/* a no-op when the event is already active */
		event_active(z->ev, EV_READ, 0);
}

void zsock_free(struct zsock **zp)
{
	if (!*zp)
		return;
	event_free((*zp)->ev);
	free(*zp);
	*zp = NULL;
}
