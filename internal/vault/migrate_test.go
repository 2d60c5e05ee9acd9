package vault

import "errors"

func childMigrate(spec childSpec) error { return errors.New("todo") }
