/* api/mhdfn.h — libmicrohttpd, loaded with dlopen when the first client
 * connects. Linked in, it pulled GnuTLS and fourteen more libraries into
 * every start of the binary: 2.5 ms of loading and constructors before main,
 * more than corral needs to start ten services, and 1.5 MiB resident. Include
 * after <microhttpd.h>: the calls below go through the table. */
#ifndef CORRAL_API_MHDFN_H
#define CORRAL_API_MHDFN_H

#include <microhttpd.h>

struct mhd_fns {
    struct MHD_Daemon *(*start_daemon)(unsigned int flags, uint16_t port,
                                       MHD_AcceptPolicyCallback apc, void *apc_cls,
                                       MHD_AccessHandlerCallback dh, void *dh_cls, ...);
    void (*stop_daemon)(struct MHD_Daemon *d);
    enum MHD_Result (*run)(struct MHD_Daemon *d);
    enum MHD_Result (*get_timeout)(struct MHD_Daemon *d, MHD_UNSIGNED_LONG_LONG *timeout);
    const union MHD_DaemonInfo *(*get_daemon_info)(struct MHD_Daemon *d,
                                                   enum MHD_DaemonInfoType info_type, ...);
    const union MHD_ConnectionInfo *(*get_connection_info)(struct MHD_Connection *c,
                                                           enum MHD_ConnectionInfoType info_type,
                                                           ...);
    enum MHD_Result (*set_connection_option)(struct MHD_Connection *c,
                                             enum MHD_CONNECTION_OPTION option, ...);
    const char *(*lookup_connection_value)(struct MHD_Connection *c, enum MHD_ValueKind kind,
                                           const char *key);
    enum MHD_Result (*queue_response)(struct MHD_Connection *c, unsigned int status_code,
                                      struct MHD_Response *response);
    void (*suspend_connection)(struct MHD_Connection *c);
    void (*resume_connection)(struct MHD_Connection *c);
    struct MHD_Response *(*create_response_from_buffer)(size_t size, void *buffer,
                                                        enum MHD_ResponseMemoryMode mode);
    struct MHD_Response *(*create_response_from_callback)(uint64_t size, size_t block_size,
                                                          MHD_ContentReaderCallback crc,
                                                          void *crc_cls,
                                                          MHD_ContentReaderFreeCallback crfc);
    enum MHD_Result (*add_response_header)(struct MHD_Response *response, const char *header,
                                           const char *content);
    void (*destroy_response)(struct MHD_Response *response);
};

extern struct mhd_fns mhd_fns;

/* Load libmicrohttpd once. 0, or -1 with why filled. */
int mhd_fns_load(char *why, size_t size);

#define MHD_start_daemon(...)                    mhd_fns.start_daemon(__VA_ARGS__)
#define MHD_stop_daemon(d)                       mhd_fns.stop_daemon(d)
#define MHD_run(d)                               mhd_fns.run(d)
#define MHD_get_timeout(d, t)                    mhd_fns.get_timeout(d, t)
#define MHD_get_daemon_info(...)                 mhd_fns.get_daemon_info(__VA_ARGS__)
#define MHD_get_connection_info(...)             mhd_fns.get_connection_info(__VA_ARGS__)
#define MHD_set_connection_option(...)           mhd_fns.set_connection_option(__VA_ARGS__)
#define MHD_lookup_connection_value(c, k, n)     mhd_fns.lookup_connection_value(c, k, n)
#define MHD_queue_response(c, s, r)              mhd_fns.queue_response(c, s, r)
#define MHD_suspend_connection(c)                mhd_fns.suspend_connection(c)
#define MHD_resume_connection(c)                 mhd_fns.resume_connection(c)
#define MHD_create_response_from_buffer(n, b, m) mhd_fns.create_response_from_buffer(n, b, m)
#define MHD_create_response_from_callback(...)   mhd_fns.create_response_from_callback(__VA_ARGS__)
#define MHD_add_response_header(r, h, v)         mhd_fns.add_response_header(r, h, v)
#define MHD_destroy_response(r)                  mhd_fns.destroy_response(r)

#endif
