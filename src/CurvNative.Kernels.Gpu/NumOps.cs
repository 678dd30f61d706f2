using ILGPU.Algorithms;

namespace CurvNative.Kernels.Gpu;

/// <summary>
/// Arithmetic of a kernel's element type as a struct the kernels are specialised over (ILGPU compiles
/// <c>default(TOps).Mul(a, b)</c> to the plain instruction): one kernel source for float and double.
/// </summary>
public interface INumOps<T> where T : unmanaged
{
    /// <summary>0.</summary>
    T Zero { get; }
    /// <summary>a + b.</summary>
    T Add(T a, T b);
    /// <summary>a * b.</summary>
    T Mul(T a, T b);
    /// <summary>a == 0.</summary>
    bool IsZero(T a);
    /// <summary>sigma, sigma', sigma'' of activation <paramref name="act"/> (TaylorActivation as int) at z.</summary>
    void Activation(int act, T z, out T s, out T s1, out T s2);
}

/// <summary>float arithmetic.</summary>
public readonly struct F32Ops : INumOps<float>
{
    /// <inheritdoc />
    public float Zero => 0f;
    /// <inheritdoc />
    public float Add(float a, float b) => a + b;
    /// <inheritdoc />
    public float Mul(float a, float b) => a * b;
    /// <inheritdoc />
    public bool IsZero(float a) => a == 0f;
    /// <inheritdoc />
    public void Activation(int act, float z, out float s, out float s1, out float s2)
    {
        if (act == 1) { float t = XMath.Tanh(z); s = t; s1 = 1f - t * t; s2 = -2f * t * s1; }
        else if (act == 2) { float g = 1f / (1f + XMath.Exp(-z)); s = g; s1 = g * (1f - g); s2 = s1 * (1f - 2f * g); }
        else if (act == 3) { float v = XMath.Sin(z); s = v; s1 = XMath.Cos(z); s2 = -v; }
        else { s = z; s1 = 1f; s2 = 0f; }
    }
}

/// <summary>double arithmetic.</summary>
public readonly struct F64Ops : INumOps<double>
{
    /// <inheritdoc />
    public double Zero => 0d;
    /// <inheritdoc />
    public double Add(double a, double b) => a + b;
    /// <inheritdoc />
    public double Mul(double a, double b) => a * b;
    /// <inheritdoc />
    public bool IsZero(double a) => a == 0d;
    /// <inheritdoc />
    public void Activation(int act, double z, out double s, out double s1, out double s2)
    {
        if (act == 1) { double t = XMath.Tanh(z); s = t; s1 = 1d - t * t; s2 = -2d * t * s1; }
        else if (act == 2) { double g = 1d / (1d + XMath.Exp(-z)); s = g; s1 = g * (1d - g); s2 = s1 * (1d - 2d * g); }
        else if (act == 3) { double v = XMath.Sin(z); s = v; s1 = XMath.Cos(z); s2 = -v; }
        else { s = z; s1 = 1d; s2 = 0d; }
    }
}
