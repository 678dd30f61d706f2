namespace CurvNative.Native;

/// <summary>A libcurvnative function returned a non-zero status (see cn_status_message).</summary>
public sealed class NativeKernelException : Exception
{
    public NativeKernelException(string function, int status, string message) : base(message)
    {
        Function = function;
        Status = status;
    }

    /// <summary>The C function that failed, e.g. cn_conv2d_forward_f32.</summary>
    public string Function { get; }

    /// <summary>The native status code (1 = invalid argument, 2 = out of memory, 3 = too large, 4 = internal).</summary>
    public int Status { get; }
}
