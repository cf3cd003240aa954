package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go"
	"golang.org/x/oauth2"
)

// Scope Pacer asks GitLab for: read the API as the person (their user and the projects they
// are a member of). Pacer never writes to GitLab with it.
const oauthScope = "read_api"

// ProviderOptions describe the GitLab OAuth application.
type ProviderOptions struct {
	GitLabURL    string // the instance, such as https://gitlab.example.com
	ClientID     string
	ClientSecret string // PACER_OAUTH_SECRET
	CallbackURL  string // base_url + /auth/callback, as registered in GitLab
	// HTTPClient talks to GitLab (nil: one with a timeout).
	HTTPClient *http.Client
}

// Provider is GitLab as an OAuth 2.0 provider and the API read as the signed-in person.
type Provider struct {
	conf   oauth2.Config
	api    string // the REST v4 base URL
	client *http.Client
}

// NewProvider checks the options and returns the provider.
func NewProvider(o ProviderOptions) (*Provider, error) {
	base, err := url.Parse(strings.TrimSpace(o.GitLabURL))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("auth: %q is not a GitLab URL", o.GitLabURL)
	}
	base.Path = strings.TrimSuffix(strings.TrimRight(base.Path, "/"), "/api/v4")
	base.RawQuery, base.Fragment = "", ""
	if o.ClientID == "" {
		return nil, errors.New("auth: the OAuth client id is empty")
	}
	if _, err := url.Parse(o.CallbackURL); err != nil || !strings.HasPrefix(o.CallbackURL, "http") {
		return nil, fmt.Errorf("auth: %q is not a callback URL", o.CallbackURL)
	}
	client := o.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	root := base.String()
	return &Provider{
		conf: oauth2.Config{
			ClientID:     o.ClientID,
			ClientSecret: o.ClientSecret,
			RedirectURL:  o.CallbackURL,
			Scopes:       []string{oauthScope},
			Endpoint: oauth2.Endpoint{
				AuthURL:  root + "/oauth/authorize",
				TokenURL: root + "/oauth/token",
				// GitLab takes the client's credentials in the form body.
				AuthStyle: oauth2.AuthStyleInParams,
			},
		},
		api:    root + "/api/v4/",
		client: client,
	}, nil
}

// AuthorizeURL is where the browser goes to sign in: GitLab's consent page with the state and
// the PKCE challenge of verifier.
func (p *Provider) AuthorizeURL(state, verifier string) string {
	return p.conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier))
}

// Exchange trades the code GitLab sent back for the person's token, proving with the PKCE
// verifier that this server started the sign-in.
func (p *Provider) Exchange(ctx context.Context, code, verifier string) (*oauth2.Token, error) {
	tok, err := p.conf.Exchange(p.context(ctx), code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, fmt.Errorf("auth: exchange the code: %w", describe(err))
	}
	return tok, nil
}

func (p *Provider) context(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, p.client)
}

// tokenSource refreshes tok when it expires.
func (p *Provider) tokenSource(ctx context.Context, tok *oauth2.Token) oauth2.TokenSource {
	return p.conf.TokenSource(p.context(ctx), tok)
}

// client is client-go as the person.
func (p *Provider) gitlab(ts oauth2.TokenSource) (*gitlab.Client, error) {
	c, err := gitlab.NewAuthSourceClient(gitlab.OAuthTokenSource{TokenSource: ts},
		gitlab.WithBaseURL(p.api), gitlab.WithHTTPClient(p.client), gitlab.WithoutRetries())
	if err != nil {
		return nil, fmt.Errorf("auth: GitLab client: %w", err)
	}
	return c, nil
}

// person reads who the token belongs to.
func (p *Provider) person(ctx context.Context, ts oauth2.TokenSource) (Person, error) {
	c, err := p.gitlab(ts)
	if err != nil {
		return Person{}, err
	}
	u, _, err := c.Users.CurrentUser(gitlab.WithContext(ctx))
	if err != nil {
		return Person{}, fmt.Errorf("auth: read the signed-in user: %w", describe(err))
	}
	return Person{ID: u.ID, Username: u.Username, Name: u.Name}, nil
}

// maxMembershipPages bounds the listing (100 a page): 100,000 projects.
const maxMembershipPages = 1000

// projects lists the ids of the projects the person is a member of (directly or through a
// group), page by page.
func (p *Provider) projects(ctx context.Context, ts oauth2.TokenSource) ([]int64, error) {
	c, err := p.gitlab(ts)
	if err != nil {
		return nil, err
	}
	opt := &gitlab.ListProjectsOptions{
		ListOptions: gitlab.ListOptions{PerPage: 100, Page: 1},
		Membership:  gitlab.Ptr(true),
		Simple:      gitlab.Ptr(true),
		Archived:    nil,
	}
	var ids []int64
	for range maxMembershipPages {
		ps, resp, err := c.Projects.ListProjects(opt, gitlab.WithContext(ctx))
		if err != nil {
			return nil, fmt.Errorf("auth: list the person's projects: %w", describe(err))
		}
		for _, pr := range ps {
			ids = append(ids, pr.ID)
		}
		if resp == nil || resp.NextPage == 0 {
			return ids, nil
		}
		opt.Page = resp.NextPage
	}
	return nil, errors.New("auth: list the person's projects: more than 100,000")
}

// describe turns GitLab's refusals into ErrRefused and keeps the rest; messages never carry a
// token (client-go's errors name the URL without credentials; oauth2's the error code).
func describe(err error) error {
	var er *gitlab.ErrorResponse
	if errors.As(err, &er) && er.Response != nil && er.Response.StatusCode == http.StatusUnauthorized {
		return fmt.Errorf("%w (401)", ErrRefused)
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		code := re.ErrorCode
		if code == "" && re.Response != nil {
			code = re.Response.Status
		}
		if code == "invalid_grant" || (re.Response != nil && re.Response.StatusCode == http.StatusUnauthorized) {
			return fmt.Errorf("%w (%s)", ErrRefused, code)
		}
		return fmt.Errorf("GitLab's token endpoint answered %s", code)
	}
	return err
}
