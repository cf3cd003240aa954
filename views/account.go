package views

// Account is the signed-in person, as the layout's header shows them.
type Account struct {
	Name     string // display name; the username when GitLab gives none
	Username string
	CSRF     string // the session's CSRF token, for the sign-out form
}

// SignIn is the page after signing out, or when a sign-in did not complete.
type SignIn struct {
	Heading   string
	Message   string
	SignInURL string // /auth/signin, with where to come back to
	Role      string // "alert" for a problem, "status" otherwise
}
