package config

// DubboRoot is the root of Dubbo's config center on ZooKeeper
// (ZookeeperDynamicConfiguration's default rootPath, "/dubbo" plus
// "/config").
const DubboRoot = "/dubbo/config"

// DubboDefaultGroup is the group Dubbo uses when none is given.
const DubboDefaultGroup = "dubbo"

// DubboPath returns the node of key in group in Dubbo's config center
// layout, /dubbo/config/<group>/<key>; an empty group is DubboDefaultGroup.
// For example DubboPath("", "dubbo.properties") is
// "/dubbo/config/dubbo/dubbo.properties", Dubbo's global configuration.
func DubboPath(group, key string) string {
	if group == "" {
		group = DubboDefaultGroup
	}
	return DubboRoot + "/" + group + "/" + key
}
