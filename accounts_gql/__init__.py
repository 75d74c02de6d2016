"""accounts-gql: the accounts service of a microservice system."""
