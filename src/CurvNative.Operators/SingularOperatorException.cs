namespace CurvNative.Operators;

/// <summary>
/// Thrown when an inverse is asked of an operator that is singular to working precision: a (damped) eigenvalue
/// is at or below <see cref="Threshold"/> = n · ε · <see cref="LargestEigenvalue"/>, the rank cut-off of
/// numpy.linalg.matrix_rank with n the dimension of the factors and ε the machine epsilon of the element type.
/// Inverting such an eigenvalue returns rounding noise amplified by 1/ε or more. The remedy is damping:
/// (C + λI)⁻¹ with λ well above <see cref="Threshold"/>, e.g. 1e-3 · <see cref="LargestEigenvalue"/>.
/// </summary>
public sealed class SingularOperatorException : InvalidOperationException
{
    /// <summary>Creates the exception for one block of a block-diagonal operator.</summary>
    public SingularOperatorException(string block, double eigenvalue, double largestEigenvalue, double threshold, double damping)
        : base($"{block} is singular to working precision: its damped eigenvalue {eigenvalue:G3} is at or below {threshold:G3} " +
               $"(dimension x machine epsilon x its largest eigenvalue {largestEigenvalue:G3}) with damping {damping:G3}; " +
               $"use a damping well above {threshold:G3}, e.g. {SuggestedDamping(largestEigenvalue):G2}.")
    {
        Block = block;
        Eigenvalue = eigenvalue;
        LargestEigenvalue = largestEigenvalue;
        Threshold = threshold;
        Damping = damping;
    }

    /// <summary>The block (layer and parameters) that is singular.</summary>
    public string Block { get; }

    /// <summary>The offending damped eigenvalue.</summary>
    public double Eigenvalue { get; }

    /// <summary>The largest damped eigenvalue magnitude of the block.</summary>
    public double LargestEigenvalue { get; }

    /// <summary>The singularity threshold n · ε · <see cref="LargestEigenvalue"/>.</summary>
    public double Threshold { get; }

    /// <summary>The damping that was applied.</summary>
    public double Damping { get; }

    /// <summary>A damping that makes the block comfortably invertible: 1e-3 times its largest eigenvalue.</summary>
    public static double SuggestedDamping(double largestEigenvalue) => largestEigenvalue > 0 ? 1e-3 * largestEigenvalue : 1e-3;
}
