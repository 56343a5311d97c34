package client

// Users is the users who signed in (access/users). It is read-only: List
// and Get.
func (a *Account) Users() Collection { return a.Collection("access/users") }
