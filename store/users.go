package store

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// User is a GitLab user as looked up once for its bot flag.
type User struct {
	ID        int64
	Username  string
	Name      string
	Bot       bool // GitLab's own bot flag (project/group access tokens, service accounts, ...)
	FetchedAt time.Time
}

// UpsertUser records a user; a later lookup replaces an earlier one.
func (s *Store) UpsertUser(ctx context.Context, u User) error {
	_, err := s.ingestExec(ctx, `INSERT INTO users(id, username, name, bot, fetched_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT(id) DO UPDATE SET username = excluded.username, name = excluded.name,
			bot = excluded.bot, fetched_at = excluded.fetched_at`,
		u.ID, u.Username, u.Name, u.Bot, u.FetchedAt.Unix())
	if err != nil {
		return fmt.Errorf("store: upsert user %d: %w", u.ID, err)
	}
	return nil
}

// Users returns every looked-up user by id.
func (s *Store) Users(ctx context.Context) (map[int64]User, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT id, username, name, bot, fetched_at FROM users`)
	if err != nil {
		return nil, fmt.Errorf("store: users: %w", err)
	}
	defer rows.Close()
	out := map[int64]User{}
	for rows.Next() {
		var u User
		var fetched int64
		if err := rows.Scan(&u.ID, &u.Username, &u.Name, &u.Bot, &fetched); err != nil {
			return nil, fmt.Errorf("store: users: %w", err)
		}
		u.FetchedAt = time.Unix(fetched, 0).UTC()
		out[u.ID] = u
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: users: %w", err)
	}
	return out, nil
}

// botUsername matches the usernames GitLab gives its own bot users (SPEC section 3):
// project and group access-token bots and service accounts.
var botUsername = regexp.MustCompile(`^(project|group)_\d+_bot|^service_account_`)

// IsBotUsername reports whether a username is a bot's by GitLab's naming or by the configured
// list (compared case-insensitively, as GitLab usernames are).
func IsBotUsername(username string, configured []string) bool {
	if botUsername.MatchString(username) {
		return true
	}
	for _, c := range configured {
		if strings.EqualFold(c, username) {
			return true
		}
	}
	return false
}

// BotRule decides who is a bot (SPEC section 3): users with GitLab's bot flag, usernames
// matching GitLab's bot naming, and the configured usernames. users is what Users returned.
func BotRule(users map[int64]User, configured []string) func(userID int64, username string) bool {
	return func(id int64, username string) bool {
		if u, ok := users[id]; ok && u.Bot {
			return true
		}
		return IsBotUsername(username, configured)
	}
}
