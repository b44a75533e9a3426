// Package registrycmd is zkctl registry and zkctl members: list, watch and
// register Curator x-discovery service instances (the JSON nodes at
// <base>/<service>/<id> of recipes/registry's Instance, kept registered by
// a registry.Member), and list the members of a group in any of the
// layouts recipes/registry's Group reads (Curator GroupMember, kazoo Party
// and ShallowParty).
package registrycmd
