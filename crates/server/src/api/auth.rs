//! The Auth service (`etcdserverpb.Auth`): users, roles and permissions as
//! etcd manages them (`etcdctl user ...`, `etcdctl role ...`), AuthStatus
//! and AuthDisable. Passwords are bcrypt-hashed here, with `--bcrypt-cost`,
//! before the change enters the log, so every member stores the same hash.
//!
//! Not yet: turning auth on. Until every request is checked against the
//! caller's permissions, AuthEnable answers `Unimplemented` rather than
//! report a protection that is not there; Authenticate answers etcd's
//! "authentication is not enabled", which is the truth while it is off.

use std::sync::Arc;

use etcd_proto::etcdserverpb::auth_server::Auth;
use etcd_proto::etcdserverpb::*;
use etcd_proto::raftpb::auth_change::Change;
use etcd_storage::auth::{check_enable, ROOT_USER};
use tonic::{Request, Response, Status};

use crate::errors::EtcdError;
use crate::server::EtcdServer;

pub struct AuthService {
    server: Arc<EtcdServer>,
    /// `--bcrypt-cost`.
    bcrypt_cost: u32,
}

impl AuthService {
    pub fn new(server: Arc<EtcdServer>, bcrypt_cost: u32) -> AuthService {
        AuthService {
            server,
            bcrypt_cost,
        }
    }

    /// Applies `change`; the header for its response.
    async fn change(&self, change: Change) -> Result<Option<ResponseHeader>, Status> {
        let revision = self.server.auth_change(change).await?;
        Ok(Some(self.server.header(revision)))
    }

    /// bcrypt of `password` in Go's `$2a$` form (etcd's), off the async
    /// threads: a hash takes tens of milliseconds at the default cost.
    async fn hash(&self, password: String) -> Result<String, Status> {
        let cost = self.bcrypt_cost;
        let hashed = tokio::task::spawn_blocking(move || {
            bcrypt::hash_with_result(password, cost)
                .map(|h| h.format_for_version(bcrypt::Version::TwoA))
        })
        .await
        .map_err(|e| EtcdError::Internal(e.to_string()))?
        .map_err(|e| EtcdError::Internal(format!("failed to bcrypt hash password: {e}")))?;
        Ok(hashed)
    }
}

#[tonic::async_trait]
impl Auth for AuthService {
    async fn auth_enable(
        &self,
        _: Request<AuthEnableRequest>,
    ) -> Result<Response<AuthEnableResponse>, Status> {
        // etcd's preconditions, answered as etcd answers them; past them,
        // enabling waits for the permission checks.
        let root = match self.server.user(ROOT_USER.to_string()).await {
            Ok((root, _)) => Some(root),
            Err(EtcdError::UserNotFound) => None,
            Err(e) => return Err(e.into()),
        };
        check_enable(root.as_ref()).map_err(EtcdError::from)?;
        Err(super::not_yet("Auth", "AuthEnable (permission checks)"))
    }

    async fn auth_disable(
        &self,
        request: Request<AuthDisableRequest>,
    ) -> Result<Response<AuthDisableResponse>, Status> {
        let header = self.change(Change::Disable(request.into_inner())).await?;
        Ok(Response::new(AuthDisableResponse { header }))
    }

    async fn auth_status(
        &self,
        _: Request<AuthStatusRequest>,
    ) -> Result<Response<AuthStatusResponse>, Status> {
        let (state, revision) = self.server.auth_state().await?;
        Ok(Response::new(AuthStatusResponse {
            header: Some(self.server.header(revision)),
            enabled: state.enabled,
            auth_revision: state.revision,
        }))
    }

    async fn authenticate(
        &self,
        _: Request<AuthenticateRequest>,
    ) -> Result<Response<AuthenticateResponse>, Status> {
        let (state, _) = self.server.auth_state().await?;
        if !state.enabled {
            return Err(EtcdError::AuthNotEnabled.into());
        }
        Err(super::not_yet("Auth", "Authenticate"))
    }

    async fn user_add(
        &self,
        request: Request<AuthUserAddRequest>,
    ) -> Result<Response<AuthUserAddResponse>, Status> {
        let mut req = request.into_inner();
        let no_password = req.options.as_ref().is_some_and(|o| o.no_password);
        req.hashed_password = match no_password {
            true => String::new(),
            false => self.hash(std::mem::take(&mut req.password)).await?,
        };
        req.password.clear();
        let header = self.change(Change::UserAdd(req)).await?;
        Ok(Response::new(AuthUserAddResponse { header }))
    }

    async fn user_get(
        &self,
        request: Request<AuthUserGetRequest>,
    ) -> Result<Response<AuthUserGetResponse>, Status> {
        let (user, revision) = self.server.user(request.into_inner().name).await?;
        Ok(Response::new(AuthUserGetResponse {
            header: Some(self.server.header(revision)),
            roles: user.roles,
        }))
    }

    async fn user_list(
        &self,
        _: Request<AuthUserListRequest>,
    ) -> Result<Response<AuthUserListResponse>, Status> {
        let (users, revision) = self.server.user_names().await?;
        Ok(Response::new(AuthUserListResponse {
            header: Some(self.server.header(revision)),
            users,
        }))
    }

    async fn user_delete(
        &self,
        request: Request<AuthUserDeleteRequest>,
    ) -> Result<Response<AuthUserDeleteResponse>, Status> {
        let header = self
            .change(Change::UserDelete(request.into_inner()))
            .await?;
        Ok(Response::new(AuthUserDeleteResponse { header }))
    }

    async fn user_change_password(
        &self,
        request: Request<AuthUserChangePasswordRequest>,
    ) -> Result<Response<AuthUserChangePasswordResponse>, Status> {
        let mut req = request.into_inner();
        req.hashed_password = self.hash(std::mem::take(&mut req.password)).await?;
        let header = self.change(Change::UserChangePassword(req)).await?;
        Ok(Response::new(AuthUserChangePasswordResponse { header }))
    }

    async fn user_grant_role(
        &self,
        request: Request<AuthUserGrantRoleRequest>,
    ) -> Result<Response<AuthUserGrantRoleResponse>, Status> {
        let header = self
            .change(Change::UserGrantRole(request.into_inner()))
            .await?;
        Ok(Response::new(AuthUserGrantRoleResponse { header }))
    }

    async fn user_revoke_role(
        &self,
        request: Request<AuthUserRevokeRoleRequest>,
    ) -> Result<Response<AuthUserRevokeRoleResponse>, Status> {
        let header = self
            .change(Change::UserRevokeRole(request.into_inner()))
            .await?;
        Ok(Response::new(AuthUserRevokeRoleResponse { header }))
    }

    async fn role_add(
        &self,
        request: Request<AuthRoleAddRequest>,
    ) -> Result<Response<AuthRoleAddResponse>, Status> {
        let header = self.change(Change::RoleAdd(request.into_inner())).await?;
        Ok(Response::new(AuthRoleAddResponse { header }))
    }

    async fn role_get(
        &self,
        request: Request<AuthRoleGetRequest>,
    ) -> Result<Response<AuthRoleGetResponse>, Status> {
        let (perm, revision) = self.server.role(request.into_inner().role).await?;
        Ok(Response::new(AuthRoleGetResponse {
            header: Some(self.server.header(revision)),
            perm,
        }))
    }

    async fn role_list(
        &self,
        _: Request<AuthRoleListRequest>,
    ) -> Result<Response<AuthRoleListResponse>, Status> {
        let (roles, revision) = self.server.role_names().await?;
        Ok(Response::new(AuthRoleListResponse {
            header: Some(self.server.header(revision)),
            roles,
        }))
    }

    async fn role_delete(
        &self,
        request: Request<AuthRoleDeleteRequest>,
    ) -> Result<Response<AuthRoleDeleteResponse>, Status> {
        let header = self
            .change(Change::RoleDelete(request.into_inner()))
            .await?;
        Ok(Response::new(AuthRoleDeleteResponse { header }))
    }

    async fn role_grant_permission(
        &self,
        request: Request<AuthRoleGrantPermissionRequest>,
    ) -> Result<Response<AuthRoleGrantPermissionResponse>, Status> {
        let header = self
            .change(Change::RoleGrantPermission(request.into_inner()))
            .await?;
        Ok(Response::new(AuthRoleGrantPermissionResponse { header }))
    }

    async fn role_revoke_permission(
        &self,
        request: Request<AuthRoleRevokePermissionRequest>,
    ) -> Result<Response<AuthRoleRevokePermissionResponse>, Status> {
        let header = self
            .change(Change::RoleRevokePermission(request.into_inner()))
            .await?;
        Ok(Response::new(AuthRoleRevokePermissionResponse { header }))
    }
}
