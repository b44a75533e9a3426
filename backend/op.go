package backend

// Op is one operation of a Multi: CreateOp, SetOp, DeleteOp or CheckOp.
type Op interface {
	// OpPath returns the path the operation acts on.
	OpPath() string
}

// CreateOp creates a node inside a Multi. Options other than TTL and ACL
// (WithParents) are not allowed inside a Multi.
type CreateOp struct {
	Path    string
	Data    []byte
	Mode    Mode
	Options []CreateOption
}

// SetOp sets a node's data if its version matches (AnyVersion for any).
type SetOp struct {
	Path    string
	Data    []byte
	Version int32
}

// DeleteOp deletes a node if its version matches (AnyVersion for any).
type DeleteOp struct {
	Path    string
	Version int32
}

// CheckOp fails the Multi unless the node exists with the version (AnyVersion: exists at all).
type CheckOp struct {
	Path    string
	Version int32
}

// OpPath returns the path to create.
func (o CreateOp) OpPath() string { return o.Path }

// OpPath returns the path to set.
func (o SetOp) OpPath() string { return o.Path }

// OpPath returns the path to delete.
func (o DeleteOp) OpPath() string { return o.Path }

// OpPath returns the path to check.
func (o CheckOp) OpPath() string { return o.Path }

// OpResult is the outcome of one operation of a successful Multi.
type OpResult struct {
	// Path is the created node's path (with its sequence suffix) for a CreateOp,
	// the operation's path otherwise.
	Path string
	// Stat is the node's stat after a SetOp; nil for the other operations.
	Stat *Stat
}
