/* The Redfish messages strata-bmc answers with: a const table of the DMTF
 * Base registry entries it uses (MessageId key, default HTTP status, text
 * with %1..%3, severity, resolution), and the error object built from them
 * (Redfish specification DSP0266 "Error responses"). Pure: no I/O. */
#include <stdio.h>
#include <string.h>

#include "bmc.h"

#define MESSAGE_REGISTRY "Base.1.16."
#define MESSAGE_TEXT_MAX 512u

typedef struct MessageEntry {
        const char *id;
        unsigned status;
        const char *severity;
        const char *text;
        const char *resolution;
} MessageEntry;

static const MessageEntry messages[_BMC_MSG_MAX] = {
        [BMC_MSG_SUCCESS] = { MESSAGE_REGISTRY "Success", 200, "OK", "The request completed successfully.", "None." },
        [BMC_MSG_CREATED] = { MESSAGE_REGISTRY "Created", 201, "OK", "The resource was created successfully.", "None." },
        [BMC_MSG_GENERAL_ERROR] = { MESSAGE_REGISTRY "GeneralError", 500, "Critical",
                "A general error has occurred.  See Resolution for information on how to resolve the error.",
                "None." },
        [BMC_MSG_MALFORMED_JSON] = { MESSAGE_REGISTRY "MalformedJSON", 400, "Critical",
                "The request body submitted was malformed JSON and could not be parsed by the receiving service.",
                "Ensure that the request body is valid JSON and resubmit the request." },
        [BMC_MSG_EMPTY_JSON] = { MESSAGE_REGISTRY "EmptyJSON", 400, "Warning",
                "The request body submitted contained an empty JSON object and the service is unable to process it.",
                "Add properties in the JSON object and resubmit the request." },
        [BMC_MSG_PROPERTY_UNKNOWN] = { MESSAGE_REGISTRY "PropertyUnknown", 400, "Warning",
                "The property %1 is not in the list of valid properties for the resource.",
                "Remove the unknown property from the request body and resubmit the request if the operation failed." },
        [BMC_MSG_PROPERTY_NOT_WRITABLE] = { MESSAGE_REGISTRY "PropertyNotWritable", 400, "Warning",
                "The property %1 is a read-only property and cannot be assigned a value.",
                "Remove the property from the request body and resubmit the request if the operation failed." },
        [BMC_MSG_PROPERTY_MISSING] = { MESSAGE_REGISTRY "PropertyMissing", 400, "Warning",
                "The property %1 is a required property and must be included in the request.",
                "Ensure that the property is in the request body and has a valid value and resubmit the request if the operation failed." },
        [BMC_MSG_PROPERTY_VALUE_NOT_IN_LIST] = { MESSAGE_REGISTRY "PropertyValueNotInList", 400, "Warning",
                "The value %1 for the property %2 is not in the list of acceptable values.",
                "Choose a value from the enumeration list that the implementation can support and resubmit the request if the operation failed." },
        [BMC_MSG_PROPERTY_VALUE_TYPE_ERROR] = { MESSAGE_REGISTRY "PropertyValueTypeError", 400, "Warning",
                "The value %1 for the property %2 is of a different type than the property can accept.",
                "Correct the value for the property in the request body and resubmit the request if the operation failed." },
        [BMC_MSG_PROPERTY_VALUE_FORMAT_ERROR] = { MESSAGE_REGISTRY "PropertyValueFormatError", 400, "Warning",
                "The value %1 for the property %2 is of a different format than the property can accept.",
                "Correct the value for the property in the request body and resubmit the request if the operation failed." },
        [BMC_MSG_ACTION_PARAMETER_MISSING] = { MESSAGE_REGISTRY "ActionParameterMissing", 400, "Critical",
                "The action %1 requires the parameter %2 to be present in the request body.",
                "Supply the action with the required parameter in the request body when the request is resubmitted." },
        [BMC_MSG_ACTION_PARAMETER_UNKNOWN] = { MESSAGE_REGISTRY "ActionParameterUnknown", 400, "Warning",
                "The action %1 was submitted with the invalid parameter %2.",
                "Correct the invalid parameter and resubmit the request if the operation failed." },
        [BMC_MSG_ACTION_PARAMETER_NOT_SUPPORTED] = { MESSAGE_REGISTRY "ActionParameterNotSupported", 400, "Warning",
                "The parameter %1 for the action %2 is not supported on the target resource.",
                "Remove the parameter supplied and resubmit the request if the operation failed." },
        [BMC_MSG_ACTION_PARAMETER_VALUE_NOT_IN_LIST] = { MESSAGE_REGISTRY "ActionParameterValueNotInList", 400, "Warning",
                "The value %1 for the parameter %2 in the action %3 is not in the list of acceptable values.",
                "Choose a value from the enumeration list and resubmit the request if the operation failed." },
        [BMC_MSG_ACTION_PARAMETER_VALUE_TYPE_ERROR] = { MESSAGE_REGISTRY "ActionParameterValueTypeError", 400, "Warning",
                "The value %1 for the parameter %2 in the action %3 is of a different type than the parameter can accept.",
                "Correct the value for the parameter in the request body and resubmit the request if the operation failed." },
        [BMC_MSG_ACTION_PARAMETER_VALUE_FORMAT_ERROR] = { MESSAGE_REGISTRY "ActionParameterValueFormatError", 400, "Warning",
                "The value %1 for the parameter %2 in the action %3 is of a different format than the parameter can accept.",
                "Correct the value for the parameter in the request body and resubmit the request if the operation failed." },
        [BMC_MSG_RESOURCE_MISSING_AT_URI] = { MESSAGE_REGISTRY "ResourceMissingAtURI", 404, "Critical",
                "The resource at the URI %1 was not found.",
                "Place a valid resource at the URI or correct the URI and resubmit the request." },
        [BMC_MSG_OPERATION_NOT_ALLOWED] = { MESSAGE_REGISTRY "OperationNotAllowed", 405, "Critical",
                "The HTTP method is not allowed on this resource.", "None." },
        [BMC_MSG_NO_VALID_SESSION] = { MESSAGE_REGISTRY "NoValidSession", 401, "Critical",
                "There is no valid session established with the implementation.",
                "Establish a session before attempting any operations." },
        [BMC_MSG_INSUFFICIENT_PRIVILEGE] = { MESSAGE_REGISTRY "InsufficientPrivilege", 403, "Critical",
                "There are insufficient privileges for the account or credentials associated with the current session to perform the requested operation.",
                "Either abandon the operation or change the associated access rights and resubmit the request if the operation failed." },
        [BMC_MSG_PRECONDITION_FAILED] = { MESSAGE_REGISTRY "PreconditionFailed", 412, "Critical",
                "The ETag supplied did not match the ETag required to change this resource.",
                "Try the operation again using the appropriate ETag." },
        [BMC_MSG_PRECONDITION_REQUIRED] = { MESSAGE_REGISTRY "PreconditionRequired", 428, "Critical",
                "A precondition header or annotation is required to change this resource.",
                "Try the operation again using an If-Match or If-None-Match header and appropriate ETag." },
        [BMC_MSG_RESOURCE_IN_USE] = { MESSAGE_REGISTRY "ResourceInUse", 409, "Warning",
                "The change to the requested resource failed because the resource is in use or in transition.",
                "Remove the condition and resubmit the request if the operation failed." },
        [BMC_MSG_HEADER_MISSING] = { MESSAGE_REGISTRY "HeaderMissing", 400, "Critical",
                "Required header %1 is missing in the request.",
                "Resubmit the request with the required request header." },
        [BMC_MSG_INTERNAL_ERROR] = { MESSAGE_REGISTRY "InternalError", 500, "Critical",
                "The request failed due to an internal service error.  The service is still operational.",
                "Resubmit the request.  If the problem persists, consider resetting the service." },
        [BMC_MSG_SERVICE_TEMPORARILY_UNAVAILABLE] = { MESSAGE_REGISTRY "ServiceTemporarilyUnavailable", 503, "Critical",
                "The service is temporarily unavailable.  Retry in %1 seconds.",
                "Wait for the indicated retry duration and retry the operation." },
        [BMC_MSG_SESSION_LIMIT_EXCEEDED] = { MESSAGE_REGISTRY "SessionLimitExceeded", 503, "Critical",
                "The session establishment failed due to the number of simultaneous sessions exceeding the limit of the implementation.",
                "Reduce the number of other sessions before trying to establish the session or increase the limit of simultaneous sessions, if supported." },
};

const char *message_id(BmcMessage m) {
        return messages[m >= 0 && m < _BMC_MSG_MAX ? m : BMC_MSG_GENERAL_ERROR].id;
}

unsigned message_status(BmcMessage m) {
        return m >= 0 && m < _BMC_MSG_MAX ? messages[m].status : 500;
}

int message_set(BmcError *e, unsigned status, BmcMessage m, const char *arg1, const char *arg2,
                const char *arg3) {
        const char *args[BMC_MESSAGE_ARGS_MAX] = { arg1, arg2, arg3 };

        *e = (BmcError) { .status = status ? status : message_status(m), .message = m };
        for (size_t i = 0; i < BMC_MESSAGE_ARGS_MAX && args[i]; i++) {
                snprintf(e->args[i], sizeof(e->args[i]), "%s", args[i]);
                e->n_args = i + 1;
        }
        return -EINVAL;
}

/* %1..%3 replaced by the arguments */
static void format_text(const char *fmt, const char args[][BMC_MESSAGE_ARG_MAX], size_t n_args, char *out,
                        size_t size) {
        size_t o = 0;
        for (const char *p = fmt; *p && o + 1 < size; p++) {
                if (p[0] == '%' && p[1] >= '1' && p[1] <= '3') {
                        size_t i = (size_t) (p[1] - '1');
                        const char *a = i < n_args ? args[i] : "";
                        int n = snprintf(out + o, size - o, "%s", a);
                        o += n < 0 ? 0 : (size_t) n >= size - o ? size - o - 1 : (size_t) n;
                        p++;
                        continue;
                }
                out[o++] = *p;
        }
        out[o] = '\0';
}

static json_t *extended_info(const BmcError *e) {
        BmcMessage m = e->message >= 0 && e->message < _BMC_MSG_MAX ? e->message : BMC_MSG_GENERAL_ERROR;
        char text[MESSAGE_TEXT_MAX];
        json_t *args = json_array();

        if (!args)
                return NULL;
        for (size_t i = 0; i < e->n_args; i++)
                json_array_append_new(args, json_string(e->args[i]));
        format_text(messages[m].text, e->args, e->n_args, text, sizeof(text));
        return json_pack("{s:s, s:s, s:s, s:o, s:s, s:s}",
                         "@odata.type", "#Message.v1_1_1.Message",
                         "MessageId", e->message_id ? e->message_id : message_id(m),
                         "Message", text,
                         "MessageArgs", args,
                         "Severity", messages[m].severity,
                         "Resolution", messages[m].resolution);
}

json_t *message_error_json(const BmcError *e) {
        json_t *info = extended_info(e);
        if (!info)
                return NULL;
        const char *code = json_string_value(json_object_get(info, "MessageId"));
        const char *text = json_string_value(json_object_get(info, "Message"));
        return json_pack("{s:{s:s, s:s, s:[o]}}", "error", "code", code, "message", text,
                         "@Message.ExtendedInfo", info);
}

json_t *message_json(BmcMessage m, const char *arg1) {
        BmcError e;
        (void) message_set(&e, 0, m, arg1, NULL, NULL);
        return extended_info(&e);
}
