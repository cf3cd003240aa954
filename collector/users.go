package collector

import (
	"context"
	"net/http"
	"sync"

	gitlab "gitlab.com/gitlab-org/api/client-go"

	"github.com/pacer-dev/pacer/store"
)

// userCache looks each user up once (GET /users/:id, for GitLab's bot flag) and remembers the
// answer in the store, so later syncs ask only about users they have not seen. Concurrent
// callers asking for the same user share one request.
type userCache struct {
	s *syncer

	mu       sync.Mutex
	known    map[int64]store.User
	inflight map[int64]chan struct{}
}

func newUserCache(s *syncer) *userCache {
	return &userCache{s: s, known: map[int64]store.User{}, inflight: map[int64]chan struct{}{}}
}

func (c *userCache) load(ctx context.Context) error {
	users, err := c.s.st.Users(ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.known = users
	c.mu.Unlock()
	return nil
}

// ensure looks up every id not known yet. username is what the caller saw, used when GitLab
// no longer has the user (deleted users answer 404).
func (c *userCache) ensure(ctx context.Context, id int64, username string) error {
	if id == 0 {
		return nil
	}
	for {
		c.mu.Lock()
		if _, ok := c.known[id]; ok {
			c.mu.Unlock()
			return nil
		}
		if wait, ok := c.inflight[id]; ok {
			c.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		done := make(chan struct{})
		c.inflight[id] = done
		c.mu.Unlock()

		u, err := c.fetch(ctx, id, username)
		c.mu.Lock()
		delete(c.inflight, id)
		if err == nil {
			c.known[id] = u
		}
		c.mu.Unlock()
		close(done)
		return err
	}
}

// learn records a user whose bot flag came with an answer (GraphQL's author { bot }), as
// ensure would after looking it up, without a request. A user known already is left as is, as
// ensure leaves it.
func (c *userCache) learn(ctx context.Context, u store.User) error {
	if u.ID == 0 {
		return nil
	}
	c.mu.Lock()
	_, ok := c.known[u.ID]
	c.mu.Unlock()
	if ok {
		return nil
	}
	u.FetchedAt = c.s.now()
	if err := c.s.st.UpsertUser(ctx, u); err != nil {
		return err
	}
	c.mu.Lock()
	c.known[u.ID] = u
	c.mu.Unlock()
	return nil
}

func (c *userCache) fetch(ctx context.Context, id int64, username string) (store.User, error) {
	u := store.User{ID: id, Username: username, FetchedAt: c.s.now()}
	gu, _, err := c.s.gl.Users.GetUser(id, gitlab.GetUsersOptions{}, reqOpts(ctx)...)
	switch {
	case err == nil:
		u.Username, u.Name, u.Bot = gu.Username, gu.Name, gu.Bot
	case httpStatus(err) == http.StatusNotFound:
		// Deleted (or hidden) user: keep what the MR or note said; never a bot by flag.
	default:
		return u, explain("look up user "+username, err)
	}
	if err := c.s.st.UpsertUser(ctx, u); err != nil {
		return u, err
	}
	return u, nil
}

// isBot applies SPEC section 3's bot rule with what is known now.
func (c *userCache) isBot(id int64, username string) bool {
	c.mu.Lock()
	u, ok := c.known[id]
	c.mu.Unlock()
	if ok && u.Bot {
		return true
	}
	return store.IsBotUsername(username, c.s.opt.Config.Bots.Usernames)
}
